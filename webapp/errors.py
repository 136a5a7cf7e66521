"""Error pages in Portuguese for the mistakes people make (missing pages, expired forms, big files)."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError


def register(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(_error: Any) -> Any:
        return render_template("erro.html", titulo="Página não encontrada",
                               mensagem="O endereço não existe ou o item foi removido da sua fila."), 404

    @app.errorhandler(403)
    def forbidden(_error: Any) -> Any:
        return render_template("erro.html", titulo="Acesso negado",
                               mensagem="Seu perfil não permite acessar esta página."), 403

    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> Any:
        return render_template("erro.html", titulo="Formulário expirado",
                               mensagem="A página ficou aberta tempo demais ou veio de outro site. "
                                        "Volte, recarregue a página e envie de novo."), 400

    @app.errorhandler(413)
    def too_large(_error: Any) -> Any:
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return render_template("erro.html", titulo="Arquivo grande demais",
                               mensagem=f"O envio passou do limite de {limit} MB. Volte e anexe um arquivo menor."), 413
