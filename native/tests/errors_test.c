/* hvrt_strerror and hvrt_errname agree with HVRT_ERRNO_MAP, the header's single list. */
#include <hvrt.h>
#include <string.h>
#include "harness.h"

int main(void)
{
#define CHECK_ENTRY(name, value, text)                                                  \
    CHECK(strcmp(hvrt_errname(value), #name) == 0);                                     \
    CHECK(strcmp(hvrt_strerror(value), text) == 0);
    HVRT_ERRNO_MAP(CHECK_ENTRY)
#undef CHECK_ENTRY
    CHECK_RC(HVRT_EINVAL, -22);
    CHECK_RC(HVRT_EINTERNAL, -4000);
    CHECK(strcmp(hvrt_errname(-12345), "UNKNOWN") == 0);
    CHECK(strcmp(hvrt_strerror(1), "unknown error") == 0);
    CHECK(hvrt_strerror(0x7fffffff) != NULL);
    return harness_finish();
}
