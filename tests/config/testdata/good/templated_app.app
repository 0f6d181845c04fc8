tmpl-web
