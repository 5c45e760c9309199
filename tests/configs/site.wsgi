def _reply(start_response, who, environ):
    body = '%s group=%r callable=%s' % (who, environ['mod_wsgi.application_group'], environ['mod_wsgi.callable_object'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]


def application(environ, start_response):
    return _reply(start_response, 'main', environ)


def admin(environ, start_response):
    return _reply(start_response, 'admin', environ)
