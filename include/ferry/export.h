/*
 * export.h - FERRY_API marks what libferry.so exports.
 *
 * The library is built with hidden visibility (meson.build), so only
 * declarations marked FERRY_API become part of the ABI of libferry.so.0;
 * everything else stays internal even though it links into the same file.
 */
#ifndef FERRY_EXPORT_H
#define FERRY_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define FERRY_API __attribute__((visibility("default")))
#else
#define FERRY_API
#endif

#endif
