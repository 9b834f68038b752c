/*-------------------------------------------------------------------------
 *
 * export.h
 *	  The exported model document that export.c writes and import.c reads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_EXPORT_H
#define MLOPS_EXPORT_H

/* the document's "format" and "format_version" */
#define EXPORT_FORMAT "mlops-model"
#define EXPORT_FORMAT_VERSION 1

#endif							/* MLOPS_EXPORT_H */
