#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
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

// pthread_setname_np/getname_np are GNU extensions too. Linux keeps 15 bytes plus the zero.
int tf_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int tf_get_thread_name(char *buffer, unsigned long size) {
    return pthread_getname_np(pthread_self(), buffer, size);
}

// Swift 6 cannot touch C's `stdout` global (shared mutable state): line-buffer it here, so
// a program piped into tee shows each line as it is printed.
void tf_line_buffer_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}
