# sdlab-web in a container: the program the systemd unit runs (/opt/sdlab/sdlab_web.py on the host, the
# build context), as uid 10001. Offline: python:3.11-slim (the lab's stand-in) has python3 and psycopg2.
FROM python:3.11-slim
WORKDIR /app
COPY sdlab_web.py /app/
USER 10001
ENV PYTHONUNBUFFERED=1 SDLAB_PORT=8100 SDLAB_DATA=/data SDLAB_UPLOADS=/uploads
EXPOSE 8100
HEALTHCHECK --interval=2s --timeout=3s --start-period=5s --retries=10 \
  CMD python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8100/health', timeout=2).status == 200 else 1)"
CMD ["python3", "/app/sdlab_web.py"]
