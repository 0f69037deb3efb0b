#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include "csystemshim.h"

// sched_getcpu and the CPU_SET macros need _GNU_SOURCE, which Swift's Glibc module does not
// define; this file exists only to reach them.
int tf_pin_to_current_cpu(void) {
    int cpu = sched_getcpu();
    if (cpu < 0) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}

int tf_die_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
}
