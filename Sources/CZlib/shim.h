// zlib's public header, reached through pkg-config `zlib` (Debian: zlib1g-dev).
#include <zlib.h>
