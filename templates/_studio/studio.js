// The studio's page script: only conveniences. Every page works without it.
(function () {
  "use strict";

  // A step form shows the fields of the chosen type; the others are disabled, so they
  // are neither required nor sent.
  document.querySelectorAll("[data-studio-step-form]").forEach(function (form) {
    var select = form.querySelector("[data-studio-type-select]");
    function show() {
      form.querySelectorAll("[data-studio-type]").forEach(function (fieldset) {
        fieldset.disabled = fieldset.getAttribute("data-studio-type") !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  });

  // Deleting asks first.
  document.querySelectorAll("form[data-studio-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-studio-confirm"))) event.preventDefault();
    });
  });

  // A refused form's reasons get the focus, so a screen reader reads them first.
  var errors = document.querySelector("[data-studio-errors]");
  if (errors) {
    var details = errors.closest("details");
    if (details) details.open = true;
    errors.focus();
  }

  // Drag and drop of the steps: the new order is posted as the Move buttons' forms are.
  var list = document.querySelector("[data-studio-steps]");
  var orderForm = document.getElementById("order-form");
  if (!list || !orderForm) return;
  var dragged = null;
  function clearMarks() {
    list.querySelectorAll(".drop-before, .drop-after").forEach(function (item) {
      item.classList.remove("drop-before", "drop-after");
    });
  }
  list.addEventListener("dragstart", function (event) {
    dragged = event.target.closest("li");
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.getAttribute("data-index"));
  });
  list.addEventListener("dragover", function (event) {
    var target = event.target.closest("li");
    if (!dragged || !target || target === dragged) return;
    event.preventDefault();
    clearMarks();
    var box = target.getBoundingClientRect();
    target.classList.add(event.clientY < box.top + box.height / 2 ? "drop-before" : "drop-after");
  });
  list.addEventListener("dragleave", function (event) {
    if (!list.contains(event.relatedTarget)) clearMarks();
  });
  list.addEventListener("drop", function (event) {
    var target = event.target.closest("li");
    if (!dragged || !target || target === dragged) return;
    event.preventDefault();
    var box = target.getBoundingClientRect();
    var before = event.clientY < box.top + box.height / 2;
    list.insertBefore(dragged, before ? target : target.nextSibling);
    clearMarks();
    var order = Array.prototype.map.call(list.children, function (item) {
      return item.getAttribute("data-index");
    });
    orderForm.elements.order.value = order.join(",");
    orderForm.submit();
  });
  list.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    clearMarks();
  });
})();
