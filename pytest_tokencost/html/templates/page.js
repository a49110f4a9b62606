(function () {
  "use strict";
  function value(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent.trim(); }
    return v;
  }
  function compare(a, b, numeric) {
    if (numeric) {
      var x = a === "" || a === "-" ? NaN : Number(a.replace(/[$,%]/g, ""));
      var y = b === "" || b === "-" ? NaN : Number(b.replace(/[$,%]/g, ""));
      if (isNaN(x) && isNaN(y)) { return 0; }
      if (isNaN(x)) { return 1; }
      if (isNaN(y)) { return -1; }
      return x - y;
    }
    return a.localeCompare(b);
  }
  function sortBy(table, index, th) {
    var numeric = th.classList.contains("n");
    var descending = th.getAttribute("aria-sort") !== "descending";
    if (!numeric && th.getAttribute("aria-sort") === null) { descending = false; }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var result = compare(value(r1.cells[index]), value(r2.cells[index]), numeric);
      if (numeric && (isNaN(Number(value(r1.cells[index]).replace(/[$,%]/g, ""))) ||
          isNaN(Number(value(r2.cells[index]).replace(/[$,%]/g, ""))))) { return result; }
      return descending ? -result : result;
    });
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
  }
  function sortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "Sort by " + th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, th); });
    });
  }
  function filterable(box) {
    var table = document.getElementById(box.getAttribute("data-for"));
    var input = box.querySelector("input");
    var count = box.querySelector("output");
    box.hidden = false;
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var match = !query || row.cells[0].textContent.toLowerCase().indexOf(query) !== -1;
        row.hidden = !match;
        shown += match ? 1 : 0;
      });
      count.textContent = shown + " of " + table.tBodies[0].rows.length;
    });
  }
  document.querySelectorAll("table.sortable").forEach(sortable);
  document.querySelectorAll(".filter").forEach(filterable);
})();
