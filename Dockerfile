# Build: a static flarecast binary. builder: the binary with the tools of a build source's
# build root, for the Job executor's build pods (--job-build-image; docker build --target
# builder). Runtime (the default target, last): distroless static, non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces github.com/willscott/go-nfs with this patched copy: download reads its go.mod.
COPY third_party/ third_party/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/flarecast/flarecast/internal/version.Version=${VERSION} -X github.com/flarecast/flarecast/internal/version.Commit=${COMMIT}" \
    -o /out/flarecast .

# Build sources in Jobs: the tools the build calls on its host (build.HostTools: mmdebstrap,
# unshare, chroot, mount, sh) and what mmdebstrap runs (apt, dpkg). It runs as root: of a user
# namespace of its own, or of the node (docs/security.md).
FROM debian:bookworm-slim AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends apt ca-certificates coreutils dash dpkg mmdebstrap mount util-linux \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/flarecast /flarecast
ENTRYPOINT ["/flarecast"]
CMD ["archive", "build"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flarecast /flarecast
USER 65532:65532
ENTRYPOINT ["/flarecast"]
CMD ["manager"]
