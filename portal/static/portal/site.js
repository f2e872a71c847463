// The only script on the site: submit the language switcher as soon as a language is picked.
document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
  var button = select.form.querySelector("button");
  if (button) button.hidden = true;
});
