// The counter screen, enhanced. Without this file the page still works: the scan form is a
// plain POST. With it: the scan box keeps the focus (a USB/Bluetooth scanner types into
// whatever is focused, then presses Enter), scans are sent in the background and the result
// swapped in, "Take part of it" opens a keypad, the camera is offered where the browser can
// read QR codes, and the connection state is refreshed every few seconds.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var busy = false;

  function $(id) { return document.getElementById(id); }
  // The words this script shows, in the page's language (the template's <template
  // id="counter-words" data-...>); English if the page has none.
  function word(name, english) {
    var holder = $("counter-words");
    var found = holder && holder.getAttribute("data-" + name);
    return found || english;
  }
  function codeBox() { return $("code"); }

  // --- keep the scan box focused --------------------------------------------------------------
  function isField(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
                  el.tagName === "BUTTON" || el.isContentEditable);
  }
  function refocus() {
    var dialog = $("camera-dialog");
    if (dialog && dialog.open) return;
    var active = document.activeElement;
    if (!active || active === document.body || active === document.documentElement) {
      var box = codeBox();
      if (box) box.focus({ preventScroll: true });
    }
  }
  document.addEventListener("focusout", function () { setTimeout(refocus, 150); });
  window.addEventListener("focus", function () { setTimeout(refocus, 0); });
  // A scanner starts typing while something else (a button) has the focus: send the keys
  // to the scan box instead of losing them.
  document.addEventListener("keydown", function (e) {
    var box = codeBox();
    if (!box || e.ctrlKey || e.metaKey || e.altKey) return;
    var active = document.activeElement;
    if (active === box || (isField(active) && active.tagName !== "BUTTON")) return;
    if (e.key && e.key.length === 1) {
      e.preventDefault();
      box.focus({ preventScroll: true });
      box.value += e.key;
    }
  });

  // --- "Take part of it" -------------------------------------------------------------------------
  function setupAmount() {
    var panel = $("amount-panel"), button = $("part-button"), amount = $("amount");
    if (!panel || !button || !amount) return;
    var keypad = panel.querySelector(".keypad");
    button.hidden = false;
    if (keypad) keypad.hidden = false;
    function open(yes) {
      panel.classList.toggle("amount--open", yes);
      button.setAttribute("aria-expanded", yes ? "true" : "false");
      button.textContent = yes ? word("take-all", "Take all of it") : word("take-part", "Take part of it");
      if (!yes) amount.value = "";
      (yes ? amount : codeBox()).focus({ preventScroll: true });
    }
    button.addEventListener("click", function () {
      open(!panel.classList.contains("amount--open"));
    });
    if (keypad) keypad.addEventListener("click", function (e) {
      var key = e.target && e.target.getAttribute("data-key");
      if (!key) return;
      amount.value = key === "clear" ? "" : (amount.value + key).replace(/^0+/, "").slice(0, 7);
      // Back to the scan box: the next thing the shopkeeper does is scan.
      codeBox().focus({ preventScroll: true });
    });
    // Enter in the amount field means "done": go to the scan box rather than submit an
    // empty code.
    amount.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); codeBox().focus({ preventScroll: true }); }
      // A scanner fired while the amount field had the focus: its code goes to the scan box.
      else if (e.key && e.key.length === 1 && !/[0-9]/.test(e.key) && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        var box = codeBox();
        box.focus({ preventScroll: true });
        box.value += e.key;
      }
    });
    window.counterCloseAmount = function () { open(false); };
  }

  // --- sending a scan in the background --------------------------------------------------------
  function swap(id, html) {
    var el = $(id);
    if (!el || html === undefined) return;
    if (id === "result") {
      var tmp = document.createElement("div");
      tmp.innerHTML = html;
      el.replaceWith(tmp.firstElementChild);
    } else {
      el.innerHTML = html;
    }
  }

  function send(form) {
    if (busy) return;
    var code = form.querySelector("[name=code]");
    if (code && !code.value.trim()) return;
    busy = true;
    var result = $("result");
    if (result) result.classList.add("result--busy");
    var data = new FormData(form);
    fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok && response.status !== 400) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (answer) {
      swap("result", answer.result_html);
      swap("status", answer.status_html);
      swap("lists", answer.lists_html);
      document.querySelectorAll("input[name=form_id]").forEach(function (input) {
        var suffix = input.value.indexOf("-image") > 0 ? "-image" : "";
        input.value = answer.form_id + suffix;
      });
      var box = codeBox();
      if (box) box.value = "";
      if (window.counterCloseAmount) window.counterCloseAmount();
      bindForms();
    }).catch(function () {
      // The page could not reach its own server in the background: fall back to a normal
      // submission (the same one-time form id, so it cannot scan twice).
      form.submit();
    }).finally(function () {
      busy = false;
      var r = $("result");
      if (r) r.classList.remove("result--busy");
      var box = codeBox();
      if (box) box.focus({ preventScroll: true });
    });
  }

  function bindForms() {
    document.querySelectorAll("form[data-scan]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", function (e) { e.preventDefault(); send(form); });
    });
  }

  // --- the camera (BarcodeDetector), where the browser has it --------------------------------
  function setupCamera() {
    var button = $("camera-button"), dialog = $("camera-dialog");
    if (!button || !dialog || !("BarcodeDetector" in window) ||
        !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
        typeof dialog.showModal !== "function") return;
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return;
      button.hidden = false;
      var video = $("camera-video"), note = $("camera-note"), stream = null, timer = null;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      function stop() {
        if (timer) clearTimeout(timer);
        timer = null;
        if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
        stream = null;
        if (dialog.open) dialog.close();
        codeBox().focus({ preventScroll: true });
      }
      function look() {
        detector.detect(video).then(function (codes) {
          var found = codes.map(function (c) { return c.rawValue; })
                           .filter(function (t) { return t.indexOf("CC1:") === 0; });
          if (found.length) {
            stop();
            var form = $("scan-form");
            codeBox().value = found[0];
            form.querySelector("[name=source]").value = "camera";
            send(form);
            form.querySelector("[name=source]").value = "scanner";
          } else {
            timer = setTimeout(look, 120);
          }
        }).catch(function () { timer = setTimeout(look, 250); });
      }
      button.addEventListener("click", function () {
        note.textContent = word("camera-starting", "Starting the camera…");
        dialog.showModal();
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
          .then(function (s) {
            stream = s;
            video.srcObject = s;
            return video.play();
          }).then(function () {
            note.textContent = word("camera-looking", "Looking for a voucher QR code…");
            look();
          }).catch(function () {
            note.textContent = word("camera-failed", "The camera could not be started. Use the scanner, or read a picture.");
          });
      });
      $("camera-close").addEventListener("click", stop);
      dialog.addEventListener("close", function () { if (stream) stop(); });
    }).catch(function () {});
  }

  // --- connection state ------------------------------------------------------------------------
  function poll() {
    if (busy || document.hidden) return;
    fetch("/status.json", { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s || busy) return;
        swap("status", s.status_html);
        var focused = document.activeElement;
        var lists = $("lists");
        // Do not redraw the lists under the shopkeeper's finger.
        if (!(lists && lists.contains(focused))) { swap("lists", s.lists_html); }
      }).catch(function () {
        var state = $("connection");
        if (state) state.textContent = word("app-down", "The terminal app is not running");
      });
  }

  function start() {
    setupAmount();
    bindForms();
    setupCamera();
    refocus();
    setInterval(poll, 4000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
