/* secretenv.c - wipe a secret's bytes from the environment block (secretenv.h). */
#define _GNU_SOURCE
#include "secretenv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void secret_env_wipe(const char *name)
{
	size_t len = strlen(name);

	for (char **e = environ; *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			explicit_bzero(*e + len + 1, strlen(*e + len + 1));
	unsetenv(name);
}
