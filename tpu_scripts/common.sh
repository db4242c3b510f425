# Shared settings for the TPU scripts; override any of them in the environment.
: "${TPU_NAME:=diffax-v4-32}"
: "${ZONE:=us-central2-b}"
: "${ACCELERATOR_TYPE:=v4-32}"
: "${RUNTIME_VERSION:=tpu-ubuntu2204-base}"
: "${REPO_URL:=}"            # git URL of your diffax fork (required by provision.sh)
: "${REPO_DIR:=diffax}"
: "${BUCKET:=}"              # gs:// workdir root (required by launch.sh: hosts share it)

tpu_ssh() {  # run a command on every worker of the pod slice
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$1"
}
