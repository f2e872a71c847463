// The only script on every page: submit the language switcher as soon as a language is
// picked; after signing out, delete the passes saved on this phone for offline use.
document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
  var button = select.form.querySelector("button");
  if (button) button.hidden = true;
});

(function () {
  if (!/(?:^|; )signed-out=1(?:;|$)/.test(document.cookie)) return;
  // The cache the pass pages' service worker keeps them in (templates/bookings/sw.js).
  var forget = window.caches ? caches.delete("landport-passes") : Promise.resolve();
  forget.catch(function () {}).then(function () {
    var secure = location.protocol === "https:" ? "; secure" : "";
    document.cookie = "signed-out=; path=/; max-age=0; samesite=lax" + secure;
  });
})();
