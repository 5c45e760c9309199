# Chooses the callable from the URL and the application group from a header.
def application_group(environ):
    return environ.get('HTTP_X_APP_GROUP')


def callable_object(environ):
    if environ.get('PATH_INFO', '').startswith('/admin'):
        return 'admin'
    return None


def process_group(environ):
    return None
