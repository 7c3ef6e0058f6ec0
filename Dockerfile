# One image for the operator, the API server and its jobs. cgo is needed for SQLite (and, later, PKCS#11).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/keymanager-io/keymanager/server.Version=${VERSION}" \
      -o /out/keymanager .

# distroless/base has glibc (cgo) and runs as non-root; the root filesystem can be read-only: the server writes
# only under --data-dir (mount a volume there when using SQLite).
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/keymanager /usr/local/bin/keymanager
USER 65532:65532
EXPOSE 9311
# A container is reached through its network interface, not loopback. No-auth (the only mode until Keystone
# support) makes every client that reaches the server admin, so `serve` refuses this address until the run says
# the network is trusted: `docker run -e KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS=true …`. With an authenticating
# proxy in the same network namespace (a sidecar), use -e KEYMANAGER_LISTEN=127.0.0.1:9311 instead.
ENV KEYMANAGER_LISTEN=0.0.0.0:9311
ENTRYPOINT ["/usr/local/bin/keymanager"]
CMD ["serve", "--data-dir", "/var/lib/keymanager"]
