#include <ringo/error.h>

#include <string.h>

const char *ringo_strerror(int err)
{
    switch (err) {
#define RINGO_ERR_MSG(name, off, msg)                                                              \
    case RINGO_E##name:                                                                            \
        return msg;
        RINGO_ERRNO_MAP(RINGO_ERR_MSG)
#undef RINGO_ERR_MSG
    }
    if (err < 0 && err > -RINGO_ERR_BASE)
        return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
    if (err >= 0)
        return "success";
    return "unknown error";
}

const char *ringo_err_name(int err)
{
    switch (err) {
#define RINGO_ERR_NAME(name, off, msg)                                                             \
    case RINGO_E##name:                                                                            \
        return "RINGO_E" #name;
        RINGO_ERRNO_MAP(RINGO_ERR_NAME)
#undef RINGO_ERR_NAME
    }
    if (err < 0 && err > -RINGO_ERR_BASE && strerrorname_np(-err))
        return strerrorname_np(-err);
    return err >= 0 ? "OK" : "UNKNOWN";
}
