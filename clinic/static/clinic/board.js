/* Places the day board's cells on its grid from their data attributes (data-cols on the
   board; data-row, data-col and data-span on a cell), on load and after every htmx swap
   (the board refreshes itself). Set through the style object, which the page's
   Content-Security-Policy allows; a style attribute in the HTML it refuses. */
(function () {
  "use strict";
  function place(root) {
    root.querySelectorAll(".board[data-cols]").forEach((board) => {
      board.style.setProperty("--cols", board.dataset.cols);
    });
    root.querySelectorAll(".board [data-row], .board [data-col]").forEach((cell) => {
      if (cell.dataset.row) cell.style.gridRow = cell.dataset.row;
      if (cell.dataset.col) cell.style.gridColumn = cell.dataset.col + " / span " + (cell.dataset.span || 1);
    });
  }
  document.addEventListener("DOMContentLoaded", () => place(document));
  document.addEventListener("htmx:afterSettle", (evt) => place(evt.detail.elt.parentNode || document));
})();
