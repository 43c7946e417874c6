// The installable app (credits/web/pwa.py). On every page: register the service worker; on a
// signed-out page, forget every offline copy of a voucher (a shared phone never shows the
// previous person's); on a voucher page, show "Offline — shown as last seen at 10:42" when
// this is the worker's copy or the phone is offline; on the offline page, list the vouchers
// that still open. A file, not inline script: the pages' Content-Security-Policy allows none.
// The words come from the page (data-* attributes), already in the reader's language.
(function () {
  "use strict";
  var script = document.currentScript;
  var VOUCHER_CACHES = "credits-vouchers-";

  function voucherCaches() {
    if (!("caches" in window)) { return Promise.resolve([]); }
    return caches.keys().then(function (names) {
      return names.filter(function (name) { return name.indexOf(VOUCHER_CACHES) === 0; });
    });
  }

  function forgetVouchers() {
    return voucherCaches().then(function (names) {
      return Promise.all(names.map(function (name) { return caches.delete(name); }));
    });
  }

  if (script && script.dataset.signedIn === "no") {
    forgetVouchers().catch(function () { /* nothing kept: nothing to forget */ });
  }
  if ("serviceWorker" in navigator && script && script.dataset.serviceWorker) {
    navigator.serviceWorker.register(script.dataset.serviceWorker).catch(function () {
      // Without a worker the pages work as before, online only.
    });
  }

  function showOfflineNote(note) {
    function update() {
      if (note.dataset.offlineCopy === "yes" || !navigator.onLine) {
        note.textContent = note.dataset.offlineLine;
        note.hidden = false;
      } else {
        note.hidden = true;
      }
    }
    update();
    window.addEventListener("online", update);
    window.addEventListener("offline", update);
  }

  function listKeptVouchers(box) {
    var list = box.querySelector("ul");
    voucherCaches().then(function (names) {
      return Promise.all(names.map(function (name) {
        return caches.open(name).then(function (cache) {
          return cache.keys().then(function (requests) {
            return Promise.all(requests.map(function (request) {
              return cache.match(request).then(function (response) { return response.text(); })
                .then(function (html) {
                  var page = new DOMParser().parseFromString(html, "text/html");
                  if (!page.getElementById("voucher-qr")) { return; }  // spent or cancelled
                  var amount = page.querySelector(".voucher-amount");
                  var item = document.createElement("li");
                  var link = document.createElement("a");
                  link.href = request.url;
                  link.textContent = page.title.split(" – ")[0] +
                    (amount ? ": " + amount.textContent.trim() : "");
                  item.appendChild(link);
                  list.appendChild(item);
                });
            }));
          });
        });
      }));
    }).then(function () {
      box.hidden = !list.children.length;
    }).catch(function () { box.hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var note = document.getElementById("offline-note");
    if (note) { showOfflineNote(note); }
    var kept = document.getElementById("offline-vouchers");
    if (kept) { listKeptVouchers(kept); }
  });
}());
