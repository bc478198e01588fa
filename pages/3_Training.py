"""Training: train a model on Landslide4Sense-style data, watch it live, compare runs, promote."""
from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import state, training, ui
from dashboard.errors import show_error
from landslide_core.bands import BAND_SETS, SCALINGS
from landslide_core.training import TrainConfig, runs
from landslide_core.training.config import parse_arch_kwargs
from landslide_core.training.evaluate import run_preview
from landslide_core.training.promote import promote
from landslide_core.zoo import TRAINABLE

ui.page_setup("Training")
ss = st.session_state
RUN_SELECT = "tr_run_select"  # the run shown (its folder name)
REFRESH_S = 3.0

st.title("Train a model")
st.caption(f"Runs are kept in `{runs.runs_root().resolve()}` (set LANDSLIDE_RUNS_DIR to change it). "
           "A run trains in a process of its own: it goes on when you leave or reload this page. "
           "One run trains at a time per device; a second one waits in the queue and starts by itself.")

# ---------------------------------------------------------------- settings
st.subheader("1. Data and settings")
defaults = TrainConfig()
training.recipe_picker()
training.practice_data()
c1, c2 = st.columns(2, gap="medium")
with c1:
    data_dir = st.text_input(
        "Data folder", key="tr_data", placeholder="/data/Landslide4Sense",
        help="Landslide4Sense layout: img/image_N.h5 ('img', 128 x 128 x 14) and mask/mask_N.h5 ('mask'), "
             "or the release's TrainData/ValidData/TestData folders.")
    band_set = st.selectbox("Band set", list(BAND_SETS), key="tr_bands",
                            format_func=lambda k: f"{k}: {', '.join(BAND_SETS[k])}")
    arch = st.selectbox("Architecture", list(TRAINABLE), key="tr_arch")
    scaling = st.selectbox(
        "Input scaling", list(SCALINGS), key="tr_scaling",
        format_func=lambda s: {"l4s": "l4s: Landslide4Sense units (default)",
                               "minmax": "minmax: per band to 0-1, min and max of the training split (the thesis's)"}[s],
        help="minmax stores the training split's per-band min and max in the model card; inference applies the "
             "same numbers.")
    epochs = st.number_input("Epochs (at most; early stopping may end sooner)", 1, 1000, key="tr_epochs")
with c2:
    alpha = st.slider("alpha: weight of Dice against WCE", 0.0, 1.0, defaults.alpha, 0.05, key="tr_alpha",
                      help="Loss = (1 - alpha) * WCE + alpha * Dice (thesis eq. 4).")
    beta = st.number_input("beta: weight of landslide pixels in the WCE", 0.1, 100.0, defaults.beta, 0.5,
                           key="tr_beta", help="The thesis uses 5; beta > 1 raises recall.")
    batch_size = st.number_input("Batch size", 1, 512, key="tr_batch")
    lr = st.number_input("Learning rate (Adam)", 1e-6, 1.0, defaults.lr, 1e-4, format="%.5f", key="tr_lr")
with st.expander("More settings"):
    m1, m2, m3 = st.columns(3)
    patience = m1.number_input("Early stopping patience (epochs)", 1, 1000, key="tr_patience")
    seed = m2.number_input("Seed (the 80/20 split and the initial weights)", 0, 2**31 - 1, defaults.seed,
                           key="tr_seed")
    device = m3.selectbox("Device", ["auto", "cpu", "cuda"], key="tr_device")
    arch_kwargs_text = m1.text_input("Architecture options (JSON)", key="tr_arch_kwargs",
                                     placeholder='{"base_channels": 16}',
                                     help="Empty: the architecture's full width (64 base channels for unet_vanilla).")
    val_share = m2.slider("Validation share", 0.05, 0.5, defaults.val_share, 0.05, key="tr_val_share")
    skip_bad = m3.checkbox("Skip unreadable or malformed files (else stop and name them)", key="tr_skip_bad")

if st.button("Launch training", type="primary", key="tr_launch", icon=":material/play_arrow:"):
    try:
        config = TrainConfig(
            data_dir=data_dir.strip(), arch=arch, bands=band_set, epochs=int(epochs), batch_size=int(batch_size),
            lr=float(lr), alpha=float(alpha), beta=float(beta), patience=int(patience), seed=int(seed),
            device=device, arch_kwargs=parse_arch_kwargs(arch_kwargs_text), val_share=float(val_share),
            on_bad="skip" if skip_bad else "stop", scaling=scaling)
        launched = runs.launch_detached(config)
        ss[RUN_SELECT] = launched.run_dir.name
        st.success(f"Started run **{launched.run_dir.name}** (process {launched.pid}). Follow it below.",
                   icon=":material/rocket_launch:")
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
        show_error(exc)

# ---------------------------------------------------------------- runs
st.subheader("2. Runs")
infos = runs.list_runs()
if not infos:
    st.info("No runs yet. Choose a data folder above and press **Launch training**.")
    st.stop()

training.runs_table(any(i.status is not None and i.status.state in ("queued", "running") for i in infos))
names = [i.run_id for i in infos]
if ss.get(RUN_SELECT) not in names:
    ss[RUN_SELECT] = names[0]
chosen = st.selectbox("Run to show", names, key=RUN_SELECT)
run_dir = next(i.run_dir for i in infos if i.run_id == chosen)
first_status = runs.current_status(run_dir)
active = first_status is not None and first_status.state in ("queued", "running")


def _loss_figure(df: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for col, name, dash in (("train_loss", "train loss", "dash"), ("val_loss", "val loss", "solid"),
                            ("train_wce", "train WCE", "dash"), ("val_wce", "val WCE", "solid"),
                            ("train_dice", "train Dice", "dash"), ("val_dice", "val Dice", "solid")):
        fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], name=name, mode="lines+markers", line={"dash": dash}))
    fig.update_layout(title="Losses (WCE-Dice and its parts)", xaxis_title="epoch", yaxis_title="loss",
                      height=340, margin={"t": 40, "b": 30})
    return fig


def _metrics_figure(df: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for col, name in (("val_f1", "F1"), ("val_precision", "precision"), ("val_recall", "recall"),
                      ("val_iou", "IoU")):
        fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], name=name, mode="lines+markers"))
    fig.update_layout(title="Validation metrics (landslide class, threshold 0.5)", xaxis_title="epoch",
                      yaxis_range=[0, 1], height=340, margin={"t": 40, "b": 30})
    return fig


@st.fragment(run_every=REFRESH_S if active else None)
def live_panel(run_dir, was_active: bool) -> None:
    """Status, charts and the stop button; refreshes itself while the run goes."""
    status = runs.current_status(run_dir)
    if status is None:
        st.warning("This run has no status yet.")
        return
    now_active = status.state in ("queued", "running")
    if was_active and not now_active:
        st.rerun()  # the run ended: redraw the whole page (promote, predictions)
    eta = f", about {status.eta_s / 60:.1f} min left" if now_active and status.eta_s else ""
    beat = f", last heartbeat {time.time() - status.heartbeat:.0f} s ago" if now_active and status.heartbeat else ""
    st.markdown(f"**{status.state}** · epoch {status.epoch}/{status.total_epochs}"
                + (f" (batch {status.batch}/{status.total_batches})" if status.state == "running" and status.batch else "")
                + f"{eta}{beat} · {status.message}")
    if status.state == "failed" and status.error:
        st.error(status.error, icon=":material/error:")
    rows = runs.read_metrics(run_dir)
    if rows:
        df = pd.DataFrame(rows)
        a, b = st.columns(2)
        a.plotly_chart(_loss_figure(df), width="stretch", key="tr_chart_loss")
        b.plotly_chart(_metrics_figure(df), width="stretch", key="tr_chart_metrics")
    elif now_active:
        st.info("The charts appear when the first epoch ends.")
    if now_active and st.button("Stop this run", key="tr_stop", icon=":material/stop:"):
        runs.request_stop(run_dir)
        st.info("Stop requested: the run stops after its current batch and keeps its last checkpoint.")


live_panel(run_dir, active)

if not active and first_status is not None and first_status.state in ("failed", "stopped"):
    if st.button("Resume this run from its last checkpoint", key="tr_resume", icon=":material/replay:"):
        try:
            config = runs.read_config(run_dir)
            launched = runs.launch_detached(config, run_dir)
            st.success(f"Resumed (process {launched.pid}).")
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            show_error(exc)

# ---------------------------------------------------------------- predictions and promotion
best_weights = run_dir / f"{runs.BEST}.safetensors"
if best_weights.exists():
    st.subheader("3. Predictions on validation patches (best checkpoint)")

    @st.cache_data(max_entries=8, show_spinner="Predicting...")
    def _previews(folder: str, mtime: float):  # noqa: ARG001 - mtime is the cache key
        return run_preview(folder, count=4)

    try:
        for p in _previews(str(run_dir), best_weights.stat().st_mtime):
            true_share, pred_share = p.landslide_share
            c_img, c_mask, c_prob = st.columns(3)
            c_img.image(p.rgb, caption=f"{p.name}: true colour", width="stretch")
            c_mask.image(p.mask_image, caption=f"mask ({true_share:.1%} landslide)", width="stretch")
            c_prob.image(p.probability_image, caption=f"prediction ({pred_share:.1%} at 0.5)",
                         width="stretch")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)

    st.subheader("4. Promote to a model")
    if active:
        st.info("Promote the run when it has ended (or stop it first).")
    else:
        models_folder = state.models_dir()
        name = st.text_input("Model name", value=chosen, key=f"tr_promote_name_{chosen}",
                             help=f"The model is written to {models_folder}.")
        if st.button("Promote the best checkpoint", key="tr_promote", icon=":material/upgrade:"):
            try:
                card_path = promote(run_dir, name.strip(), models_folder)
                st.success(f"Promoted as **{card_path.stem}** in {models_folder}; it is now on the Models page "
                           "and in the model choice of the Monitor page.", icon=":material/check_circle:")
            except Exception as exc:  # noqa: BLE001
                show_error(exc)
