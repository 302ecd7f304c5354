#include <errno.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/* prctl is variadic, which Swift cannot call: names the calling thread (15 bytes at most on Linux). */
static inline int bins_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#include <spawn.h>

/* glibc (2.34 and later) declares posix_spawn_file_actions_addclosefrom_np only under _GNU_SOURCE, which
   Swift's Glibc module is not built with; the declaration below is glibc's own. */
static inline int bins_spawn_file_actions_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
