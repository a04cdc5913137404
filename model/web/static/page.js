
(function () {
  "use strict";
  var body = document.body;
  var LABELS = (body.getAttribute("data-labels") || "").split(" ");
  var FLAGGED = (body.getAttribute("data-flagged") || "").split(" ");
  var MAX_BYTES = parseInt(body.getAttribute("data-max-bytes"), 10) || 1000000;
  var CONTROLS = /[\u0000-\u0008\u000B\u000E-\u001F\u007F-\u009F]/g;
  var form = document.getElementById("score-form");
  var input = document.getElementById("text");
  var file = document.getElementById("file");
  var lines = document.getElementById("lines");
  var explain = document.getElementById("explain");
  var button = document.getElementById("score");
  var status = document.getElementById("status");
  var result = document.getElementById("result");
  var summary = document.getElementById("summary");
  var detail = document.getElementById("detail");
  var output = document.getElementById("output");

  function clean(text) {
    text = text.replace(CONTROLS, "");
    return typeof text.toWellFormed === "function" ? text.toWellFormed() : text;
  }
  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? "error" : "";
    status.setAttribute("role", isError ? "alert" : "status");
  }
  function labelClass(label) { return LABELS.indexOf(label) >= 0 ? "l-" + label : "l-other"; }
  function plural(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }
  function summaryText(data) {
    var s = data.summary;
    var parts = LABELS.map(function (l) { return (s.counts[l] || 0) + " " + l; }).join(", ");
    var line = plural(s.sentences, "sentence") + ": " + parts + "; " +
      Math.round(s.flagged_share * 100) + "% flagged (" + FLAGGED.join(" + ") + ")";
    if (data.skipped.length) { line += "; " + data.skipped.length + " skipped (headings, references, furniture)"; }
    return line + " · model: " + data.model;
  }
  function span(className, text) {
    var el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }
  function why(s) {
    if (!s.evidence || !s.evidence.length) { return ""; }
    return " \u00b7 why: " + s.evidence.map(function (e) { return e.text; }).join(", ");
  }
  function sentenceSpan(chars, start, end, s) {
    var el = document.createElement("span");
    el.className = "s " + labelClass(s.label);
    var cursor = start;
    (s.evidence || []).slice().sort(function (a, b) { return a.start - b.start; }).forEach(function (e) {
      var left = Math.max(e.start, cursor), right = Math.min(e.end, end);
      if (right <= left) { return; }
      if (left > cursor) { el.appendChild(document.createTextNode(chars.slice(cursor, left).join(""))); }
      var mark = span("ev", chars.slice(left, right).join(""));
      mark.title = "evidence \u00b7 " + e.weight.toFixed(2);
      el.appendChild(mark);
      cursor = right;
    });
    if (end > cursor) { el.appendChild(document.createTextNode(chars.slice(cursor, end).join(""))); }
    return el;
  }
  function show(text, data) {
    var chars = Array.from(text);
    var pieces = [];
    data.sentences.forEach(function (s) { pieces.push({ start: s.start, end: s.end, sentence: s }); });
    data.skipped.forEach(function (k) { pieces.push({ start: k.start, end: k.end, skipped: k }); });
    pieces.sort(function (a, b) { return a.start - b.start || a.end - b.end; });
    var nodes = [];
    var cursor = 0;
    pieces.forEach(function (p) {
      var start = Math.min(Math.max(p.start, cursor), chars.length);
      var end = Math.min(Math.max(p.end, start), chars.length);
      if (start > cursor) { nodes.push(document.createTextNode(chars.slice(cursor, start).join(""))); }
      if (end > start) {
        var piece = chars.slice(start, end).join("");
        var el;
        if (p.sentence) {
          var s = p.sentence;
          el = sentenceSpan(chars, start, end, s);
          el.title = s.label + " \u00b7 " + s.confidence.toFixed(2) + why(s);
          el.tabIndex = 0;
          el.setAttribute("data-label", s.label);
          el.setAttribute("data-confidence", s.confidence.toFixed(4));
          el.setAttribute("data-index", String(s.index));
          if (s.evidence && s.evidence.length) {
            el.setAttribute("data-why", s.evidence.map(function (e) { return e.text; }).join(", "));
          }
        } else {
          el = span("skip", piece);
          el.title = "skipped \u00b7 " + p.skipped.reason;
          el.setAttribute("data-skipped", p.skipped.reason);
        }
        nodes.push(el);
      }
      cursor = Math.max(cursor, end);
    });
    if (cursor < chars.length) { nodes.push(document.createTextNode(chars.slice(cursor).join(""))); }
    output.replaceChildren.apply(output, nodes);
    summary.textContent = summaryText(data);
    detail.textContent = "Hover over or tab to a sentence for its label and confidence" +
      (data.sentences.some(function (s) { return s.evidence; }) ? "; the underlined words are why." : ".");
    result.hidden = false;
  }
  function describe(event) {
    var el = event.target && event.target.closest ? event.target.closest("[data-label]") : null;
    if (!el) { return; }
    detail.textContent = el.getAttribute("data-label") + " \u00b7 confidence " +
      parseFloat(el.getAttribute("data-confidence")).toFixed(2) + ": " + el.textContent +
      (el.hasAttribute("data-why") ? " \u00b7 why: " + el.getAttribute("data-why") : "");
  }
  function fail(response) {
    return response.json().then(function (b) { return b.error; }, function () { return null; })
      .then(function (message) { throw new Error(message || ("the server answered " + response.status)); });
  }
  function post(path, payload) {
    return fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (response) { return response.ok ? response.json() : fail(response); },
            function () { throw new Error("could not reach the nuchter server"); });
  }
  function submit(event) {
    if (event) { event.preventDefault(); }
    var text = clean(input.value);
    if (text !== input.value) { input.value = text; }
    if (!text.trim()) { say("Paste some Dutch text first.", true); input.focus(); return; }
    button.disabled = true;
    say("Scoring\u2026", false);
    post("api/score", { text: text, lines: lines.checked, explain: explain.checked })
      .then(function (data) { show(text, data); say("Scored " + plural(data.summary.sentences, "sentence") + ".", false); })
      .catch(function (error) { result.hidden = true; say(error.message, true); })
      .then(function () { button.disabled = false; });
  }
  function decode(bytes) {
    if (bytes[0] === 0xFF && bytes[1] === 0xFE) { return new TextDecoder("utf-16le").decode(bytes.subarray(2)); }
    if (bytes[0] === 0xFE && bytes[1] === 0xFF) { return new TextDecoder("utf-16be").decode(bytes.subarray(2)); }
    try { return new TextDecoder("utf-8", { fatal: true }).decode(bytes); }
    catch (e) { return new TextDecoder("windows-1252").decode(bytes); }
  }
  function load() {
    var f = file.files && file.files[0];
    if (!f) { return; }
    if (f.size > MAX_BYTES) { say(f.name + " is larger than this server accepts (" + MAX_BYTES + " bytes).", true); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var text = decode(new Uint8Array(reader.result));
      if (/\.html?$/i.test(f.name)) {
        post("api/extract", { html: text })
          .then(function (data) { input.value = data.text; say("Loaded the main text of " + f.name + ".", false); input.focus(); })
          .catch(function (error) { say(error.message, true); });
      } else {
        input.value = text;
        say("Loaded " + f.name + ".", false);
        input.focus();
      }
    };
    reader.onerror = function () { say("Could not read " + f.name + ".", true); };
    reader.readAsArrayBuffer(f);
  }
  form.addEventListener("submit", submit);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { submit(event); }
  });
  function fetchPage(event) {
    event.preventDefault();
    var address = urlInput.value.trim();
    if (!address) { say("Give the address of a web page first.", true); urlInput.focus(); return; }
    fetchButton.disabled = true;
    say("Fetching " + address + "\u2026", false);
    post("api/fetch", { url: address })
      .then(function (data) {
        input.value = clean(data.text);
        say("Loaded the main text of " + (data.title || data.url) + ".", false);
        submit();
      })
      .catch(function (error) { say(error.message, true); })
      .then(function () { fetchButton.disabled = false; });
  }
  var urlForm = document.getElementById("url-form");
  var urlInput = document.getElementById("url");
  var fetchButton = document.getElementById("fetch");
  if (urlForm) { urlForm.addEventListener("submit", fetchPage); }
  file.addEventListener("change", load);
  output.addEventListener("mouseover", describe);
  output.addEventListener("focusin", describe);
})();
