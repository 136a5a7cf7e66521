/* "Buscar o nome pelo CNPJ" on the portal's new complaint: looks the CNPJ up without reloading the page
   (so the chosen files stay chosen). The button carries the lookup address in data-url; without
   JavaScript it submits the form and the server does the same look-up. */
(function () {
  var button = document.getElementById('buscar-cnpj');
  if (!button || !window.fetch) { return; }
  button.addEventListener('click', function (event) {
    event.preventDefault();
    var cnpj = document.getElementById('campo-fornecedor_cnpj').value;
    var out = document.getElementById('cnpj-resultado');
    out.textContent = 'Consultando…';
    fetch(button.getAttribute('data-url') + '?cnpj=' + encodeURIComponent(cnpj), {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.nome) {
          document.getElementById('campo-fornecedor_nome').value = body.nome;
          if (body.cnpj) { document.getElementById('campo-fornecedor_cnpj').value = body.cnpj; }
          out.textContent = 'Empresa encontrada: ' + body.nome + '.';
        } else {
          out.textContent = body.erro || 'Não foi possível consultar. Digite o nome da empresa.';
        }
      })
      .catch(function () { out.textContent = 'Não foi possível consultar. Digite o nome da empresa.'; });
  });
})();
