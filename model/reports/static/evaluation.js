(function () {
  "use strict";
  // Filters the error list by gold and predicted label: it only hides and shows existing rows.
  var gold = document.getElementById("filter-gold");
  var predicted = document.getElementById("filter-predicted");
  var shown = document.getElementById("errors-shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#errors-table tbody tr"));
  if (!gold || !predicted) { return; }
  function apply() {
    var count = 0;
    rows.forEach(function (row) {
      var keep = (!gold.value || row.getAttribute("data-gold") === gold.value) &&
        (!predicted.value || row.getAttribute("data-predicted") === predicted.value);
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    shown.textContent = "showing " + count + " of " + rows.length;
  }
  gold.addEventListener("change", apply);
  predicted.addEventListener("change", apply);
  document.querySelectorAll("#confusion .cell").forEach(function (cell) {
    cell.addEventListener("click", function () {
      gold.value = cell.getAttribute("data-gold");
      predicted.value = cell.getAttribute("data-predicted");
      apply();
      document.getElementById("errors").scrollIntoView();
    });
  });
  apply();
})();
