/* api/: the protocol as data. Shared by the daemon and the CLI's --json. */
#ifndef SDF_API_H
#define SDF_API_H

/* Routes jansson's allocations through the counting allocator. Call once,
 * before any JSON is built. */
void sdf_api_global_init(void);

#endif
