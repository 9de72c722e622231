// wabridge console: the little script there is. Every page works without
// it; with it, the silence form previews its matches as you type and the
// playground shows its result without reloading the page.
"use strict";

function fragment(url, opts) {
  opts = opts || {};
  opts.headers = Object.assign({"X-Console-Fragment": "1"}, opts.headers || {});
  opts.credentials = "same-origin";
  return fetch(url, opts).then(function (r) { return r.text(); });
}

// Silence preview: which open incidents the matchers being typed select.
function wirePreview() {
  var form = document.getElementById("silence-form");
  var out = document.getElementById("silence-preview");
  if (!form || !out) return;
  var timer = null;
  function update() {
    var q = new URLSearchParams();
    q.set("matchers", form.elements["matchers"].value);
    fragment("/ui/silences/preview?" + q.toString()).then(function (html) {
      out.innerHTML = html;
      out.dataset.ready = "1";
    });
  }
  form.elements["matchers"].addEventListener("input", function () {
    clearTimeout(timer);
    out.dataset.ready = "0";
    timer = setTimeout(update, 200);
  });
  if (form.elements["matchers"].value) update();
}

// Playground: post the form, show the result beside it; the pasted
// payload stays in the browser.
function wirePlayground() {
  var form = document.getElementById("playground-form");
  var out = document.getElementById("playground-result");
  if (!form || !out) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    out.dataset.ready = "0";
    out.innerHTML = "<p class=\"muted\">Evaluating…</p>";
    fragment(form.action, {method: "POST", body: new FormData(form)}).then(function (html) {
      out.innerHTML = html;
      out.dataset.ready = "1";
    }, function (err) {
      out.innerHTML = "";
      var p = document.createElement("p");
      p.className = "flash flash-error";
      p.textContent = "The playground could not be reached: " + err;
      out.appendChild(p);
      out.dataset.ready = "1";
    });
  });
}

// A confirm step for what cannot be undone (drop a dead letter).
function wireConfirm() {
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  wirePreview();
  wirePlayground();
  wireConfirm();
});
