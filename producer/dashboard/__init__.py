"""The pipeline's dashboard (the ``dashboard`` extra): Streamlit over the shipped queries."""
