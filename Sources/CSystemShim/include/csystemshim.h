#ifndef CSYSTEMSHIM_H
#define CSYSTEMSHIM_H
/// Pins the calling thread to the CPU it is running on; returns that CPU or -1.
int tf_pin_to_current_cpu(void);
/// Asks the kernel to SIGKILL the calling process when its parent dies (prctl is variadic,
/// hence out of Swift's reach); returns 0 on success.
int tf_die_with_parent(void);
/// Names the calling thread (at most 15 bytes are kept); 0 on success, else an errno.
int tf_set_thread_name(const char *name);
/// The calling thread's name into `buffer`; 0 on success, else an errno.
int tf_get_thread_name(char *buffer, unsigned long size);
/// Makes stdout line-buffered.
void tf_line_buffer_stdout(void);
#endif
