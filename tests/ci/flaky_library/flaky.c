#include <uk/essentials.h>
#include "attempt.h"

static int flaky_report(void)
{
	uk_pr("[libflaky] built at attempt %d\n", FLAKY_ATTEMPT);
	return 0;
}
UK_LIB_INITCALL(flaky_report);
