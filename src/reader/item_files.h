// What one item's own folder says, read through safe_fs: an overlay from
// overlay/RO/<id>, a layer from overlay-layers/RO/<id>, an image from
// overlay-images/<id>. Each result is either usable or has one problem, phrased
// "<file>: <what>" ("manifest: missing", "layer.json: writable"). Dependencies
// between items are the validator's business, not this file's.
#pragma once

#include "identity.h"
#include "packed_record.h"
#include "rare_string.h"
#include "short_link.h"

#include <layerwatch/model.h>
#include <layerwatch/store.h>

#include <string>
#include <vector>

namespace lw {

// What every item keeps: its identity, the names that identity covers (what the next
// probe stats), and its one problem. Once an overlay's or a layer's own files are
// usable, only its folder is probed: RO data is built aside and renamed into place,
// never edited in place. An image keeps images.json and manifest probed (a tag
// rewrites images.json in place).
struct ItemState {
	Identity identity;
	ProbeNames probeNames;
	RareString problem; // empty: usable
	// Not 0: the read failed on the way to the files (EIO, ESTALE, EACCES, EMFILE ...),
	// problem says where. Such a read says nothing about the item: its last known
	// state stands and it is read again later (DESIGN.md section 4).
	int ioError = 0;
};

struct OverlayFiles : ItemState {
	ShortLink link;
	std::vector<ShortLink> lower; // nearest parent first; empty for a base layer
	// When the link file was made: its birth time, or its change time where the
	// filesystem keeps none. Of two layers naming the same link, the earlier keeps it.
	std::int64_t linkBornNs = 0;
};

// Of a layer.json or an images.json that parsed, only what the store shows is kept:
// the store's own record, packed, made here and shared with the store once
// committed, so that it is held once (the rest of the file mattered only to the
// checks). Empty when the file did not parse.
struct LayerFiles : ItemState {
	PackedLayer info; // its link is the overlay's, filled in when committed
};

struct ImageFiles : ItemState {
	PackedImage info;
	// Pending on its manifest alone: images.json read and checked, every big-data
	// file found (and in the probe). Read again, only the manifest is read while the
	// rest keeps its identity.
	bool restChecked = false;
};


// The names every item's first probe covers, in the order of Identity::files.
ProbeNames overlayProbeNames();
ProbeNames layerProbeNames(const std::string &id);
ProbeNames imageProbeNames();

// folderFlags: for the folder's statx (probeIdentity).
OverlayFiles readOverlayFiles(int treeFd, const std::string &id, int folderFlags = 0);
LayerFiles readLayerFiles(int treeFd, const std::string &id, int folderFlags = 0);
// partlyRead: the image as last read, when restChecked (see ImageFiles).
ImageFiles readImageFiles(int treeFd, const std::string &id, int folderFlags = 0,
			  const ImageFiles *partlyRead = nullptr);

} // namespace lw
