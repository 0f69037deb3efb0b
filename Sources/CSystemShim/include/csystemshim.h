#ifndef CSYSTEMSHIM_H
#define CSYSTEMSHIM_H
/// Pins the calling thread to the CPU it is running on; returns that CPU or -1.
int tf_pin_to_current_cpu(void);
#endif
