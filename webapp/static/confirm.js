/* Forms that ask before they act: <form data-confirm="Descartar o rascunho?">. The question is asked
   here rather than in an inline onsubmit handler, which the Content-Security-Policy forbids. */
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
