# sdlab-worker in a container: the program the systemd unit runs (/opt/sdlab/sdlab_worker.py on the host,
# the build context), as uid 10001. No port: it only writes $SDLAB_DATA/app.db.
FROM python:3.11-slim
WORKDIR /app
COPY sdlab_worker.py /app/
USER 10001
ENV PYTHONUNBUFFERED=1 SDLAB_DATA=/data
CMD ["python3", "/app/sdlab_worker.py"]
