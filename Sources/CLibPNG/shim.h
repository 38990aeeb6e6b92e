// libpng's public header, reached through pkg-config `libpng` (Debian: libpng-dev).
// Only the simplified `png_image` API is used: its errors come back as return values with a
// message in `png_image.message`, so no longjmp ever crosses Swift frames.
#include <png.h>
