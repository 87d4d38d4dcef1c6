/* The Runtime API's state machine: which calls are valid when, as HTTP statuses. */
#include <string.h>

#include "rtapi/rtapi.h"

void rtapi_sm_init(struct rtapi_sm *sm)
{
	memset(sm, 0, sizeof(*sm));
	sm->state = RTAPI_INIT;
}

int rtapi_sm_next(struct rtapi_sm *sm)
{
	if (sm->parked || sm->state == RTAPI_FAILED)
		return 400;
	sm->parked = true;
	return 0;
}

int rtapi_sm_deliver(struct rtapi_sm *sm, const char *request_id)
{
	/* One invocation at a time: a /next parked while one is in flight (BUSY) waits
	 * for its response. An id that is empty or does not fit whole is refused, as a
	 * truncated copy would turn away the real id and accept its prefix. */
	size_t n = strnlen(request_id, sizeof(sm->request_id));
	if (!sm->parked || (sm->state != RTAPI_INIT && sm->state != RTAPI_BETWEEN) || n == 0 ||
	    n == sizeof(sm->request_id))
		return -1;
	sm->parked = false;
	sm->state = RTAPI_BUSY;
	memcpy(sm->request_id, request_id, n + 1);
	return 0;
}

void rtapi_sm_unpark(struct rtapi_sm *sm)
{
	sm->parked = false;
}

int rtapi_sm_complete(struct rtapi_sm *sm, const char *request_id)
{
	if (sm->state != RTAPI_BUSY || sm->streaming || strcmp(sm->request_id, request_id) != 0)
		return 403;
	sm->state = RTAPI_BETWEEN;
	sm->request_id[0] = 0;
	return 202;
}

int rtapi_sm_stream_begin(struct rtapi_sm *sm, const char *request_id)
{
	if (sm->state != RTAPI_BUSY || sm->streaming || strcmp(sm->request_id, request_id) != 0)
		return 403;
	sm->streaming = true;
	return 202;
}

void rtapi_sm_stream_end(struct rtapi_sm *sm)
{
	if (!sm->streaming)
		return;
	sm->streaming = false;
	sm->state = RTAPI_BETWEEN;
	sm->request_id[0] = 0;
}

int rtapi_sm_init_error(struct rtapi_sm *sm)
{
	if (sm->state != RTAPI_INIT)
		return 403;
	sm->state = RTAPI_FAILED;
	return 202;
}
