// Booking pages: tell the server the phone's time zone, and keep an opened pass for offline use.
(function () {
  var script = document.currentScript;

  // The tz cookie: times are then shown in port time and in the phone's own time.
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (/^[A-Za-z0-9_+\/-]{1,64}$/.test(zone)) {
    var sent = (document.cookie.match(/(?:^|; )tz=([^;]*)/) || [])[1];
    if (sent !== zone) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
      // Reload once per zone and tab, so a browser that refuses the cookie is not reloaded forever.
      try {
        if (script && script.hasAttribute("data-tz-reload") && navigator.onLine &&
            sessionStorage.getItem("tz-reloaded") !== zone) {
          sessionStorage.setItem("tz-reloaded", zone);
          location.reload();
          return;
        }
      } catch (e) { /* no sessionStorage: times show in port time only */ }
    }
  }

  var worker = document.querySelector("[data-sw]");
  if (!worker || !("serviceWorker" in navigator)) return;
  if (!navigator.onLine) document.querySelector("[data-offline-now]").hidden = false;
  navigator.serviceWorker.register(worker.getAttribute("data-sw"), { scope: "/bookings/" }).catch(function () {});
  navigator.serviceWorker.ready.then(function (registration) {
    var channel = new MessageChannel();
    channel.port1.onmessage = function (event) {
      if (event.data && event.data.saved) document.querySelector("[data-offline-saved]").hidden = false;
    };
    registration.active.postMessage({ type: "keep", url: location.pathname }, [channel.port2]);
  });
})();
