/*
 * p11cluster public header: names and constants shared by the module, the
 * admin command and applications that want to recognise the cluster.
 */
#ifndef P11CLUSTER_P11CLUSTER_H
#define P11CLUSTER_P11CLUSTER_H

/* The token manufacturer the virtual token reports in CK_TOKEN_INFO. */
#define P11CLUSTER_MANUFACTURER "p11cluster"

/* Objects whose CKA_ID starts with this prefix belong to the cluster itself
 * (the transport key, the journal) and are hidden from C_FindObjects. */
#define P11CLUSTER_INTERNAL_ID_PREFIX "p11cluster-"

/* Environment variable naming the configuration file. */
#define P11CLUSTER_CONF_ENV "P11CLUSTER_CONF"

#endif
