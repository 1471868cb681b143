/* lattice version, shared by the NIF library and the C node. */
#ifndef LT_VERSION_H
#define LT_VERSION_H

#define LT_VERSION "0.1.0"
/* Protocol version of the C node's message set; bumped on any incompatible change. */
#define LT_CNODE_PROTOCOL 3

#endif
