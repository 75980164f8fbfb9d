/*
 * The one entry point every fuzz target defines: libFuzzer calls it with
 * each input it makes, and replay.c with each file of a corpus folder.
 */
#ifndef LIFELINE_FUZZ_H
#define LIFELINE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input through the parser; returns 0. A bug aborts or crashes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
