# Build: a static flarecast binary. Runtime: distroless static, non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/flarecast/flarecast/internal/version.Version=${VERSION} -X github.com/flarecast/flarecast/internal/version.Commit=${COMMIT}" \
    -o /out/flarecast .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flarecast /flarecast
USER 65532:65532
ENTRYPOINT ["/flarecast"]
CMD ["manager"]
