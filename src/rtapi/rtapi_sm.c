/* The Runtime API's state machine: which calls are valid when, as HTTP statuses. */
#include <stdio.h>
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
	if (!sm->parked || sm->state == RTAPI_FAILED)
		return -1;
	sm->parked = false;
	sm->state = RTAPI_BUSY;
	snprintf(sm->request_id, sizeof(sm->request_id), "%s", request_id);
	return 0;
}

void rtapi_sm_unpark(struct rtapi_sm *sm) { sm->parked = false; }

int rtapi_sm_complete(struct rtapi_sm *sm, const char *request_id)
{
	if (sm->state != RTAPI_BUSY || strcmp(sm->request_id, request_id) != 0)
		return 403;
	sm->state = RTAPI_BETWEEN;
	sm->request_id[0] = 0;
	return 202;
}

int rtapi_sm_init_error(struct rtapi_sm *sm)
{
	if (sm->state != RTAPI_INIT)
		return 403;
	sm->state = RTAPI_FAILED;
	return 202;
}
