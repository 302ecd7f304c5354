#include <gpiod.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <errno.h>
#include <time.h>
