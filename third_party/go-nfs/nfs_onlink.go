package nfs

import (
	"bytes"
	"context"
	"os"
	"reflect"

	"github.com/go-git/go-billy/v5"
	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// linkErrorBody is LINK3resfail: post_op_attr and wcc_data, none of them following.
var linkErrorBody = [12]byte{}

// onLink answers LINK3args = { nfs_fh3 file; diropargs3 link; } (RFC 1813 3.3.15) with
// LINK3resok = { post_op_attr file_attributes; wcc_data linkdir_wcc; }.
func onLink(ctx context.Context, w *response, userHandle Handler) error {
	w.errorFmt = errFormatterWithBody(linkErrorBody[:])
	handle, err := readOpaque(w.req.Body, fhSize)
	if err != nil {
		return &NFSStatusError{NFSStatusInval, err}
	}
	obj := DirOpArg{}
	if err := readArgs(w.req.Body, &obj); err != nil {
		return &NFSStatusError{NFSStatusInval, err}
	}

	fs, filePath, err := userHandle.FromHandle(handle)
	if err != nil {
		return &NFSStatusError{NFSStatusStale, err}
	}
	dirFS, path, err := userHandle.FromHandle(obj.Handle)
	if err != nil {
		return &NFSStatusError{NFSStatusStale, err}
	}
	if !reflect.DeepEqual(fs, dirFS) {
		return &NFSStatusError{NFSStatusXDev, os.ErrPermission}
	}
	if !billy.CapabilityCheck(fs, billy.WriteCapability) {
		return &NFSStatusError{NFSStatusROFS, os.ErrPermission}
	}

	if len(string(obj.Filename)) > PathNameMax {
		return &NFSStatusError{NFSStatusNameTooLong, os.ErrInvalid}
	}

	newFilePath := fs.Join(append(path, string(obj.Filename))...)
	if _, err := fs.Lstat(newFilePath); err == nil {
		return &NFSStatusError{NFSStatusExist, os.ErrExist}
	}
	if s, err := fs.Stat(fs.Join(path...)); err != nil {
		return &NFSStatusError{NFSStatusAccess, err}
	} else if !s.IsDir() {
		return &NFSStatusError{NFSStatusNotDir, nil}
	}
	if s, err := fs.Lstat(fs.Join(filePath...)); err != nil {
		return &NFSStatusError{NFSStatusNoEnt, err}
	} else if s.IsDir() {
		return &NFSStatusError{NFSStatusIsDir, nil}
	}

	changer := userHandle.Change(fs)
	if changer == nil {
		return &NFSStatusError{NFSStatusAccess, err}
	}
	cos, ok := changer.(UnixChange)
	if !ok {
		return &NFSStatusError{NFSStatusNotSupp, err}
	}

	if err := cos.Link(fs.Join(filePath...), newFilePath); err != nil {
		return &NFSStatusError{statusFromFSError(err, NFSStatusAccess), err}
	}

	writer := bytes.NewBuffer([]byte{})
	if err := xdr.Write(writer, uint32(NFSStatusOk)); err != nil {
		return &NFSStatusError{NFSStatusServerFault, err}
	}
	if err := WritePostOpAttrs(writer, tryStat(fs, append(path, string(obj.Filename)))); err != nil {
		return &NFSStatusError{NFSStatusServerFault, err}
	}
	if err := WriteWcc(writer, nil, tryStat(fs, path)); err != nil {
		return &NFSStatusError{NFSStatusServerFault, err}
	}

	if err := w.Write(writer.Bytes()); err != nil {
		return &NFSStatusError{NFSStatusServerFault, err}
	}
	return nil
}
