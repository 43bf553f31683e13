# sdlab-prune in a container: the program the systemd oneshot runs (/opt/sdlab/sdlab_prune.py on the host, the
# build context), as uid 10001; the spec's schedule runs it (no CMD of its own is needed, one is given for a
# run by hand).
FROM python:3.11-slim
WORKDIR /app
COPY sdlab_prune.py /app/
USER 10001
ENV PYTHONUNBUFFERED=1 SDLAB_UPLOADS=/uploads
CMD ["python3", "/app/sdlab_prune.py"]
