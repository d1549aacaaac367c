/* A <select data-autosubmit> sends its form as soon as another option is chosen: the
   admin's language switch (templates/admin/base_site.html) and the dashboard's
   organization picker. A static file rather than an onchange="" attribute, which the
   Content-Security-Policy forbids. */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });
})();
