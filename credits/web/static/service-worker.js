// The service worker, served as /service-worker.js (scope: the whole site). What it does and
// why is in credits/web/pwa.py:
// - a member's voucher page (/vouchers/<id>) is network-first: online it always comes from
//   the server; a copy is kept in the cache of the session that saw it, and offline that copy
//   opens (its QR code is inline SVG: part of the page);
// - every other page is network-only; offline, the offline page says so (no stale balance);
// - static files are network-first, kept for offline use;
// - a page of another session, or of nobody (the X-Credits-Offline-Key header), drops every
//   other session's copies at once.
"use strict";

var VERSION = "1";
var STATIC_CACHE = "credits-static-" + VERSION;
var VOUCHER_CACHES = "credits-vouchers-";
var KEY_HEADER = "X-Credits-Offline-Key";
var SCOPE = new URL(self.registration.scope);
var OFFLINE_PAGE = new URL("offline", SCOPE).href;
var STATIC_PREFIX = new URL("static/", SCOPE).pathname;
var PRECACHE = [
  "offline",
  "static/site.css",
  "static/vouchers.css",
  "static/print.js",
  "static/pwa.js",
  "static/icon-192.png"
].map(function (path) { return new URL(path, SCOPE).href; });
var VOUCHER_PAGE = /^vouchers\/(?!new$)[^/]+$/;
// The cached copy marks itself, so that its page shows the "Offline — shown as last seen" line.
var LIVE_MARK = 'data-offline-copy="no"';
var COPY_MARK = 'data-offline-copy="yes"';

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE).then(function (cache) {
      return cache.addAll(PRECACHE.map(function (url) { return new Request(url, { cache: "reload" }); }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("credits-static-") === 0 && name !== STATIC_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function isVoucherPage(url) {
  return url.pathname.indexOf(SCOPE.pathname) === 0 &&
    VOUCHER_PAGE.test(url.pathname.slice(SCOPE.pathname.length));
}

function voucherCaches() {
  return caches.keys().then(function (names) {
    return names.filter(function (name) { return name.indexOf(VOUCHER_CACHES) === 0; });
  });
}

// Drop every voucher copy that is not this session's ("" for nobody: drop them all).
function forgetOthers(key) {
  return voucherCaches().then(function (names) {
    return Promise.all(names.filter(function (name) { return name !== VOUCHER_CACHES + key; })
      .map(function (name) { return caches.delete(name); }));
  });
}

function keep(key, request, response) {
  return response.clone().text().then(function (html) {
    var headers = new Headers(response.headers);
    headers.delete("Content-Length");
    var copy = new Response(html.replace(LIVE_MARK, COPY_MARK), {
      status: response.status,
      statusText: response.statusText,
      headers: headers
    });
    return caches.open(VOUCHER_CACHES + key).then(function (cache) {
      return cache.put(request.url, copy);
    });
  });
}

function lastCopy(request) {
  return voucherCaches().then(function (names) {
    // There is at most one: the session's that last saw a page.
    return names.reduce(function (found, name) {
      return found.then(function (copy) {
        return copy || caches.open(name).then(function (cache) { return cache.match(request.url); });
      });
    }, Promise.resolve(undefined));
  });
}

function offlinePage() {
  return caches.match(OFFLINE_PAGE, { cacheName: STATIC_CACHE }).then(function (page) {
    return page || Response.error();
  });
}

function isPage(response) {
  return response.type === "basic" &&
    (response.headers.get("Content-Type") || "").indexOf("text/html") === 0;
}

function page(request, url) {
  var voucher = isVoucherPage(url);
  return fetch(request).then(function (response) {
    if (voucher && response.status >= 500) {
      // The server is down (docs/operations.md): at the counter, the last copy beats an error.
      return lastCopy(request).then(function (copy) { return copy || response; });
    }
    if (!isPage(response) || url.href === OFFLINE_PAGE) {
      return response;  // a redirect, a download: says nothing of whose session this is
    }
    var key = response.headers.get(KEY_HEADER) || "";
    return forgetOthers(key).then(function () {
      if (voucher && key && response.status === 200) {
        // Kept before the page is shown: once a voucher has shown, it shows offline.
        return keep(key, request, response);
      }
      return undefined;
    }).catch(function () { /* the page still shows; only its offline copy is missing */ })
      .then(function () { return response; });
  }, function () {
    return (voucher ? lastCopy(request) : Promise.resolve(undefined)).then(function (copy) {
      return copy || offlinePage();
    });
  });
}

function staticFile(request) {
  return fetch(request).then(function (response) {
    if (response.status !== 200 || response.type !== "basic") {
      return response;
    }
    var copy = response.clone();
    return caches.open(STATIC_CACHE).then(function (cache) { return cache.put(request, copy); })
      .catch(function () { /* kept next time */ })
      .then(function () { return response; });
  }, function () {
    return caches.match(request, { cacheName: STATIC_CACHE }).then(function (kept) {
      return kept || Response.error();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;  // forms go to the network as they always did
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  } else if (url.pathname.indexOf(STATIC_PREFIX) === 0) {
    event.respondWith(staticFile(request));
  }
});
