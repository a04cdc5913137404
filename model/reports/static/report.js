
(function () {
  "use strict";
  var table = document.getElementById("overview-table");
  if (!table || !table.tHead || !table.tBodies.length) { return; }
  var tbody = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function cellValue(row, i, numeric) {
    var cell = row.cells[i];
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return raw;
  }
  function compare(x, y, numeric) {
    if (numeric) { return x === y ? 0 : (x < y ? -1 : 1); }
    return x.localeCompare(y, "nl", { numeric: true, sensitivity: "base" });
  }
  function sortBy(i, dir) {
    var numeric = heads[i].getAttribute("data-type") === "num";
    var rows = Array.prototype.slice.call(tbody.rows);
    var sign = dir === "descending" ? -1 : 1;
    rows.sort(function (a, b) {
      return sign * compare(cellValue(a, i, numeric), cellValue(b, i, numeric), numeric);
    });
    for (var r = 0; r < rows.length; r++) { tbody.appendChild(rows[r]); }
    for (var j = 0; j < heads.length; j++) { heads[j].setAttribute("aria-sort", "none"); }
    heads[i].setAttribute("aria-sort", dir);
  }
  function onClick(i) {
    return function () {
      var now = heads[i].getAttribute("aria-sort");
      var dir;
      if (now === "ascending") { dir = "descending"; }
      else if (now === "descending") { dir = "ascending"; }
      else { dir = heads[i].getAttribute("data-type") === "num" ? "descending" : "ascending"; }
      sortBy(i, dir);
    };
  }
  for (var k = 0; k < heads.length; k++) {
    var button = heads[k].querySelector("button");
    if (button) { button.addEventListener("click", onClick(k)); }
  }
  function fromHash() {
    var m = /^#sort=(-?)([a-z_]+)$/.exec(window.location.hash);
    if (!m) { return; }
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].getAttribute("data-key") === m[2]) {
        sortBy(i, m[1] ? "descending" : "ascending");
        return;
      }
    }
  }
  fromHash();
  window.addEventListener("hashchange", fromHash);
  table.classList.add("js-sortable");
})();
