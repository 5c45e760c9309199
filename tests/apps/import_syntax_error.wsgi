# Deliberately invalid Python: loading this script must fail with SyntaxError.
def application(environ, start_response)
    return []
