/* recbole.c - see recbole.h. */
#include "recbole.h"

#include <string.h>

int fr_recbole_split(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

int fr_recbole_column(char **f, int n, const char *name, int untyped_ok) {
    size_t l = strlen(name);
    for (int i = 0; i < n; i++)
        if (strncmp(f[i], name, l) == 0 && (f[i][l] == ':' || (untyped_ok && f[i][l] == 0))) return i;
    return -1;
}
