// SPDX-License-Identifier: MIT
/* libFuzzer's entry: an input is a call sequence (see diffops.c). */
#include <stdlib.h>

#include "diffops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (diff_run(data, size, 0))
		abort();
	return 0;
}
